//! `madoguchi serve`: the retrieval service over HTTP (axum on tokio).
//!
//! One [`AppState`] holds the search engine (swapped atomically on reload), the store, the
//! configuration, the rate limiter and the metrics. Search is CPU work and runs on tokio's
//! blocking pool, never on the async workers. Every error is JSON `{"error": …}`.

pub mod api;
pub mod conn;
pub mod faq_admin;
pub mod faq_sync;
pub mod http;
pub mod staff;

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware;
use axum::routing::{get, post};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::analysis::Analyzer;
use crate::config::Config;
pub use crate::config::ServerConfig;
use crate::engine::{Build, Engine, Locations, Setup};
use crate::index;
use crate::store::Store;

/// A reload may drop at most this share of the served entries without `force`…
pub const DROP_REFUSED_SHARE: f64 = 0.05;
/// …and drops of fewer entries than this are always allowed (small FAQs, single deletions).
pub const DROP_REFUSED_ENTRIES: usize = 10;

/// A start that finds more entry texts than this without a cached vector answers lexically at
/// once and embeds them in the background (about 30 ms a text on two cores: the bundled FAQ's
/// 3,639 texts take minutes); fewer are embedded before serving.
pub const EMBED_IN_BACKGROUND_ABOVE: usize = 300;

/// Password checks at once (Argon2id, 19 MiB each); more wait up to 0.5 s, then get 429.
const SIGN_IN_SLOTS: usize = 2;

/// Everything the handlers share.
pub struct AppState {
    engine: RwLock<Arc<Engine>>,
    /// The database.
    pub store: Store,
    /// Effective configuration.
    pub config: Config,
    /// Where the FAQ, the index and the dictionary are (what a reload rebuilds from).
    pub locations: Locations,
    /// The system analyzer, loaded once; each (re)load adds the FAQ's user dictionary.
    analyzer: Analyzer,
    /// Prometheus counters.
    pub metrics: crate::metrics::Metrics,
    /// Per-client rate limiter of the resident API and sign-in.
    pub limiter: http::RateLimiter,
    /// Per-client rate limiter of the staff console and `/admin/*` (its own budget, so that
    /// residents' traffic from a shared address cannot lock staff out, nor the reverse).
    pub staff_limiter: http::RateLimiter,
    /// Sign-in password checks, a few at a time.
    pub passwords: crate::auth::PasswordChecker,
    /// Failed sign-ins by (name, address), address and name.
    pub throttle: crate::auth::Throttle,
    /// The LLM endpoint, when one is configured.
    pub llm: Option<Arc<crate::llm::LlmClient>>,
    reload_lock: tokio::sync::Mutex<()>,
    /// Held by an FAQ apply from its check to its reload (or restore), one apply at a time;
    /// also by the follower of the database's FAQ versions while it switches.
    pub(crate) apply_lock: tokio::sync::Mutex<()>,
    /// The database's FAQ version `faq/` holds and the engine serves (FAQ in the database only).
    faq_version: std::sync::Mutex<Option<i64>>,
    /// The most opened entries per municipality (`None`: everyone), with when they were read,
    /// for the widget's opening screen ([`api::start`]).
    pub(crate) most_opened: std::sync::Mutex<MostOpened>,
}

/// The most opened entry ids per municipality (`None`: everyone), and when they were counted.
pub(crate) type MostOpened =
    std::collections::HashMap<Option<String>, (std::time::Instant, Vec<String>)>;

/// Why a reload failed.
#[derive(Debug)]
pub struct ReloadError {
    /// Every problem, one a line (`file:line: message` for FAQ problems).
    pub problems: Vec<String>,
    /// The build succeeded but was not swapped in: its deadline had passed.
    abandoned: bool,
}

impl ReloadError {
    /// A reload refused for `problems`.
    pub fn new(problems: Vec<String>) -> ReloadError {
        ReloadError {
            problems,
            abandoned: false,
        }
    }

    fn abandoned() -> ReloadError {
        ReloadError {
            problems: vec!["abandoned: the build ended after its deadline".to_owned()],
            abandoned: true,
        }
    }

    /// Whether the build succeeded but was not swapped in because its deadline had passed.
    pub fn is_abandoned(&self) -> bool {
        self.abandoned
    }
}

impl AppState {
    /// Opens (building when missing or stale) the index and the store described by `setup`,
    /// whose configuration is the effective one (flags and environment applied).
    pub async fn open(setup: Setup) -> anyhow::Result<Arc<AppState>> {
        let Setup { locations, config } = setup;
        let store = Store::connect(&config.server.database_url()).await?;
        let faq_version = if config.server.faq_from_database() {
            Some(faq_sync::at_start(&store, &locations.faq).await?)
        } else {
            None
        };
        let (dict, analysis) = (locations.dict.clone(), config.clone());
        let analyzer =
            tokio::task::spawn_blocking(move || crate::engine::system_analyzer(&dict, &analysis))
                .await??;
        let (a, at, search) = (analyzer.clone(), locations.clone(), config.search.clone());
        let engine = tokio::task::spawn_blocking(move || {
            Engine::open_deferring(
                &at,
                &search,
                &a,
                Build::Ensure,
                Some(EMBED_IN_BACKGROUND_ABOVE),
            )
        })
        .await??;
        let embedding = matches!(engine.semantic, crate::semantic::Status::Embedding { .. });
        let limiter = http::RateLimiter::new(
            config.server.rate_limit_per_minute,
            config.server.rate_limit_burst,
        );
        let staff_limiter = http::RateLimiter::new(
            config.server.rate_limit_per_minute,
            config.server.rate_limit_burst,
        );
        let llm = crate::llm::LlmClient::new(&config.llm).map(Arc::new);
        if let Some(l) = &llm {
            tracing::info!(llm = ?l, "LLM answers enabled");
        }
        let state = Arc::new(AppState {
            llm,
            engine: RwLock::new(Arc::new(engine)),
            store,
            config,
            locations,
            analyzer,
            metrics: crate::metrics::Metrics::default(),
            limiter,
            staff_limiter,
            passwords: crate::auth::PasswordChecker::new(SIGN_IN_SLOTS, Duration::from_millis(500)),
            throttle: crate::auth::Throttle::new(),
            reload_lock: tokio::sync::Mutex::new(()),
            apply_lock: tokio::sync::Mutex::new(()),
            faq_version: std::sync::Mutex::new(faq_version),
            most_opened: std::sync::Mutex::default(),
        });
        if embedding {
            embed_in_background(state.clone());
        }
        Ok(state)
    }

    /// The database's FAQ version served (`None` when the FAQ comes from `faq/` alone).
    pub fn faq_version(&self) -> Option<i64> {
        *self.faq_version.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_faq_version(&self, v: Option<i64>) {
        *self.faq_version.lock().unwrap_or_else(|e| e.into_inner()) = v;
    }

    /// Waits until no FAQ apply is in progress (each has settled: applied, or restored).
    pub async fn applies_settled(&self) {
        drop(self.apply_lock.lock().await);
    }

    /// The engine now serving (cheap: an `Arc` clone).
    pub fn engine(&self) -> Arc<Engine> {
        self.engine
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Rebuilds the index from the FAQ directory and swaps it in. A FAQ that fails validation
    /// leaves the running engine untouched and returns every problem.
    pub async fn reload(&self) -> Result<Arc<Engine>, ReloadError> {
        self.reload_with(false, || true).await
    }

    /// [`reload`](Self::reload), but the new engine is swapped in only if `commit` (asked once,
    /// after a successful build) says yes; otherwise the running engine stays and this returns
    /// `ReloadError::abandoned`. Unless `force`, a new FAQ with at least
    /// [`DROP_REFUSED_ENTRIES`] and more than [`DROP_REFUSED_SHARE`] fewer entries than the one
    /// served is refused (a file emptied or cut short).
    pub async fn reload_with(
        &self,
        force: bool,
        commit: impl FnOnce() -> bool,
    ) -> Result<Arc<Engine>, ReloadError> {
        let _guard = self.reload_lock.lock().await;
        let before = index::current_generation(&self.locations.index);
        let (a, at, search) = (
            self.analyzer.clone(),
            self.locations.clone(),
            self.config.search.clone(),
        );
        let built =
            tokio::task::spawn_blocking(move || Engine::open(&at, &search, &a, Build::Rebuild))
                .await;
        let result = match built {
            Ok(Ok(engine)) => Ok(engine),
            Ok(Err(e)) => Err(ReloadError::new(
                format!("{e:#}")
                    .lines()
                    .map(str::to_owned)
                    .filter(|l| !l.trim().is_empty())
                    .collect(),
            )),
            Err(e) => Err(ReloadError::new(vec![format!("reload task failed: {e}")])),
        };
        let serving = self.engine().retriever.manifest().entries;
        let result = match result {
            Ok(engine) if !force => {
                match drop_refusal(serving, engine.retriever.manifest().entries) {
                    Some(problem) => Err(ReloadError::new(vec![problem])),
                    None => Ok(engine),
                }
            }
            other => other,
        };
        let abandoned = result.is_ok() && !commit();
        if result.is_err() || abandoned {
            // The build may have made its generation current on disk: point back at the one
            // served, so a restart serves what is served now.
            if let Some(name) = &before
                && index::current_generation(&self.locations.index).as_ref() != Some(name)
                && let Err(e) = index::make_current(&self.locations.index, name)
            {
                tracing::warn!(error = %e, "could not point the index back at the serving generation; the next start rebuilds it from faq/");
            }
        }
        match result {
            Ok(_) if abandoned => {
                tracing::warn!("reload abandoned past its deadline; the running index stays");
                Err(ReloadError::abandoned())
            }
            Ok(engine) => {
                let engine = Arc::new(engine);
                *self.engine.write().unwrap_or_else(|e| e.into_inner()) = engine.clone();
                self.metrics.reload(true);
                let m = engine.retriever.manifest();
                tracing::info!(entries = m.entries, "index reloaded");
                Ok(engine)
            }
            Err(e) => {
                self.metrics.reload(false);
                tracing::warn!(problems = ?e.problems, "reload refused; the running index stays");
                Err(e)
            }
        }
    }
}

/// Builds the full engine (the entries embedded, through the vector cache) while the lexical one
/// serves, and swaps it in. Reloads wait meanwhile, so none is overtaken by this older build.
fn embed_in_background(state: Arc<AppState>) {
    tokio::spawn(async move {
        let _no_reload_meanwhile = state.reload_lock.lock().await;
        let started = std::time::Instant::now();
        let (a, at, search) = (
            state.analyzer.clone(),
            state.locations.clone(),
            state.config.search.clone(),
        );
        match tokio::task::spawn_blocking(move || Engine::open(&at, &search, &a, Build::Ensure))
            .await
        {
            Ok(Ok(engine)) => {
                let on = engine.semantic.on();
                *state.engine.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(engine);
                tracing::info!(
                    secs = started.elapsed().as_secs(),
                    semantic = on,
                    "entries embedded in the background; the full engine serves now"
                );
            }
            Ok(Err(e)) => {
                tracing::error!(error = %format!("{e:#}"), "embedding in the background failed; lexical only until the next reload");
            }
            Err(e) => tracing::error!(error = %e, "the background embedding task failed"),
        }
    });
}

/// Why a FAQ of `new` entries must not replace one of `serving` without being forced: at least
/// [`DROP_REFUSED_ENTRIES`] and more than [`DROP_REFUSED_SHARE`] fewer (a file emptied or cut
/// short).
pub fn drop_refusal(serving: usize, new: usize) -> Option<String> {
    let dropped = serving.saturating_sub(new);
    (dropped >= DROP_REFUSED_ENTRIES && dropped as f64 > serving as f64 * DROP_REFUSED_SHARE).then(
        || {
            format!(
                "the FAQ files now hold {new} entries, {dropped} fewer than the {serving} served \
             (more than {:.0}%): a file emptied or cut short? Check the files; if the entries \
             are meant to go, force the reload (?force=true)",
                DROP_REFUSED_SHARE * 100.0
            )
        },
    )
}

/// The service's routes and layers.
pub fn router(state: Arc<AppState>) -> Router {
    let s = &state.config.server;
    let request_id = HeaderName::from_static("x-request-id");
    let origins: Vec<HeaderValue> = s
        .cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::ACCEPT])
        .expose_headers([header::RETRY_AFTER, HeaderName::from_static("x-request-id")])
        .max_age(Duration::from_secs(3600));
    let api = Router::new()
        .route("/api/chat", post(api::chat))
        .route("/api/search", get(api::search))
        .route("/api/faq/{id}", get(api::faq_entry))
        .route("/api/categories", get(api::categories))
        .route("/api/start", get(api::start))
        .route("/api/municipalities", get(api::municipalities))
        .route("/api/feedback", post(api::feedback))
        .route("/api/open", post(api::open))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            http::rate_limit,
        ));
    let staff = Router::new()
        .route("/staff/api/me", get(staff::me))
        .route("/staff/api/logout", post(staff::logout))
        .route("/staff/api/search", get(staff::search))
        .route("/staff/api/logs", get(staff::logs))
        .route("/staff/api/users", get(staff::users))
        .route("/staff/api/unanswered", get(staff::unanswered))
        .route("/staff/api/unanswered/mark", post(staff::mark))
        .route("/staff/api/stats", get(staff::stats))
        .route("/staff/api/faq/download", get(faq_admin::download))
        .route(
            "/staff/api/faq/preview",
            post(faq_admin::preview)
                .layer(axum::extract::DefaultBodyLimit::max(faq_admin::MAX_UPLOAD)),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            staff::require_staff,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            http::staff_rate_limit,
        ));
    // Applies and reloads rebuild the index and embed new texts: their own, longer limit.
    let rebuilds = Router::new()
        .route(
            "/staff/api/faq/apply",
            post(faq_admin::apply)
                .layer(axum::extract::DefaultBodyLimit::max(faq_admin::MAX_UPLOAD)),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            staff::require_staff,
        ))
        .route("/admin/reload", post(api::admin_reload))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            http::staff_rate_limit,
        ))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            // A backstop: the handlers answer at `reload_timeout_ms` themselves, saying
            // whether anything changed.
            Duration::from_millis(s.reload_timeout_ms.saturating_mul(2).saturating_add(1_000)),
        ));
    let login = Router::new()
        .route("/staff/api/login", post(staff::login))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            http::rate_limit,
        ));
    Router::new()
        .merge(api)
        .merge(staff)
        .merge(login)
        .route("/api/openapi.json", get(api::openapi))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(api::metrics))
        .fallback_service(
            tower_http::services::ServeDir::new(&s.web_dir)
                .append_index_html_on_directories(true),
        )
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(s.request_timeout_ms),
        ))
        .merge(rebuilds)
        .layer(axum::extract::DefaultBodyLimit::max(s.max_body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), http::track))
        .layer(cors)
        .layer(middleware::from_fn(http::reject_bad_query))
        .layer(middleware::from_fn(http::json_errors))
        .layer(middleware::from_fn(http::no_framing_for_staff))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        ))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// Background work: FAQ watching (or following the database's FAQ versions) and retention.
pub fn spawn_background(state: Arc<AppState>) {
    let interval = state.config.server.watch_interval_secs;
    if state.config.server.faq_from_database() {
        faq_sync::spawn_follower(state.clone());
    } else if interval > 0 {
        let st = state.clone();
        tokio::spawn(async move {
            let mut failed_fingerprint: Option<String> = None;
            let mut tick = tokio::time::interval(Duration::from_secs(interval));
            tick.tick().await;
            loop {
                tick.tick().await;
                let faq = st.locations.faq.clone();
                let Ok(Ok(fp)) =
                    tokio::task::spawn_blocking(move || index::faq_fingerprint(&faq)).await
                else {
                    continue;
                };
                // An FAQ apply in progress decides for itself whether its file is served.
                if st.apply_lock.try_lock().is_err() {
                    continue;
                }
                let serving = st.engine().retriever.manifest().faq_fingerprint.clone();
                if fp == serving || failed_fingerprint.as_deref() == Some(fp.as_str()) {
                    continue;
                }
                tracing::info!("FAQ files changed; rebuilding the index");
                failed_fingerprint = st.reload().await.err().map(|_| fp);
            }
        });
    }
    let days = state.config.server.retention_days;
    if days > 0 {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(3600));
            loop {
                tick.tick().await;
                match state.store.purge_older_than(days).await {
                    Ok(p) if p.conversations > 0 => {
                        tracing::info!(
                            conversations = p.conversations,
                            messages = p.messages,
                            "retention: deleted old conversations"
                        );
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "retention run failed"),
                }
            }
        });
    }
}

/// Serves `state` on `listener` until `shutdown` completes, then drains in-flight requests for
/// at most [`http::SHUTDOWN_GRACE`].
pub async fn serve(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_grace(state, listener, shutdown, http::SHUTDOWN_GRACE).await
}

/// [`serve`] with the time in-flight requests get after `shutdown`: when it is up, this returns
/// without waiting for them.
pub async fn serve_with_grace(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let per_address = state.config.server.max_connections_per_address;
    conn::serve(router(state), listener, shutdown, grace, per_address).await
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// The configuration as printed at start: secrets replaced by `***`.
pub fn redacted(config: &Config) -> serde_json::Value {
    let mut c = config.clone();
    if c.server.admin_token.is_some() {
        c.server.admin_token = Some("***".into());
    }
    c.server.database_url = c
        .server
        .database_url
        .as_deref()
        .map(crate::store::redact_url);
    serde_json::to_value(&c).unwrap_or_default()
}
